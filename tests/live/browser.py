"""Headless Chromium for the live layer's browser tests, as a person uses the Airflow UI.

Debian's ``chromium`` driven through Debian's ``chromedriver`` (``make live-deps`` installs
both) by Selenium, which is given both paths, so Selenium Manager downloads nothing. The
user signs in through Airflow's own login form, typing into its fields. Every check is an
explicit wait (``wait_for`` / ``wait_text``): for a finished run it passes on the first
look, for a running one it waits for the page to refresh itself. When what a test waits for
never shows, a screenshot and the page source are saved into the test's screenshot folder
and the assertion message names that folder.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SECONDS = 60.0
"""How long a check waits for what it expects (the UI loads, a plugin page polls)."""
TOKEN_COOKIE = "_token"
"""Where Airflow's login page keeps the user's JWT."""

T = TypeVar("T")


class Browser:
    """One headless Chromium on the Airflow UI at ``base_url``; screenshots go to ``folder``."""

    def __init__(self, base_url: str, profile: Path, folder: Path) -> None:
        missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
        if missing:
            raise RuntimeError(
                f"the browser tests need Debian's chromium and chromium-driver ({missing} "
                "missing): run `make live-deps` as root, or `sudo apt-get install chromium "
                "chromium-driver`"
            )
        options = Options()
        options.binary_location = str(CHROMIUM)
        for argument in (
            "--headless=new",
            "--no-sandbox",  # as root (CI) Chromium refuses to start with its sandbox
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--window-size=1600,1300",
            f"--user-data-dir={profile / 'chromium'}",
        ):
            options.add_argument(argument)
        service = Service(
            executable_path=str(CHROMEDRIVER), log_output=str(profile / "chromedriver.log")
        )
        self.driver: WebDriver = webdriver.Chrome(service=service, options=options)
        self.base_url = base_url.rstrip("/")
        self.folder = folder
        self.signed_in_as: str | None = None
        self._numbers = itertools.count(1)

    def close(self) -> None:
        """Quit Chromium."""
        self.driver.quit()

    # -- navigation --------------------------------------------------------------------

    def open(self, path: str) -> None:
        """Load ``path`` (relative to the UI's base URL) in the top window."""
        self.driver.switch_to.default_content()
        self.driver.get(f"{self.base_url}/{path.lstrip('/')}")

    def sign_in(self, username: str, password: str) -> None:
        """Sign in through Airflow's login form, typing as a person does."""
        self.open("auth/login")
        self.element("input[name='username']", "the login form's username field").send_keys(
            username
        )
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.driver.find_element(By.XPATH, "//button[normalize-space()='Sign in']").click()
        self.wait_for(
            f"{username} to be signed in (the {TOKEN_COOKIE} cookie set, the login page left)",
            lambda driver: (
                driver.get_cookie(TOKEN_COOKIE) is not None
                and "auth/login" not in driver.current_url
            ),
        )
        self.signed_in_as = username

    def enter_frame(self, src_part: str) -> None:
        """Wait for the plugin's iframe whose ``src`` holds ``src_part`` and switch into it."""
        self.wait_for(
            f"the plugin iframe ({src_part})",
            expected_conditions.frame_to_be_available_and_switch_to_it(
                (By.CSS_SELECTOR, f"iframe[src*='{src_part}']")
            ),
        )

    # -- checks ------------------------------------------------------------------------

    def wait_for(
        self, what: str, condition: Callable[[WebDriver], T | None], timeout: float = WAIT_SECONDS
    ) -> T:
        """``condition``'s first truthy answer; an AssertionError (with evidence saved)
        when there is none within ``timeout`` seconds."""
        waiting = WebDriverWait(
            self.driver,
            timeout,
            poll_frequency=0.5,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        )
        try:
            found = waiting.until(condition)
        except TimeoutException:
            raise self.failure(f"waited {timeout:.0f}s for {what}") from None
        return cast("T", found)  # until() returns only a truthy answer

    def wait_text(self, css: str, *parts: str, timeout: float = WAIT_SECONDS) -> str:
        """The visible text of the element at ``css`` once it shows every one of ``parts``."""
        seen = {"text": "(no such element)"}

        def shows(driver: WebDriver) -> str | None:
            text = driver.find_element(By.CSS_SELECTOR, css).text
            seen["text"] = text
            return text if all(part in text for part in parts) else None

        try:
            return self.wait_for(f"{css} to show {list(parts)}", shows, timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}\nlast seen text of {css}: {seen['text']!r}") from None

    def wait_match(self, css: str, pattern: str, timeout: float = WAIT_SECONDS) -> re.Match[str]:
        """The first match of ``pattern`` in the visible text of the element at ``css``."""

        def matches(driver: WebDriver) -> re.Match[str] | None:
            return re.search(pattern, driver.find_element(By.CSS_SELECTOR, css).text)

        return self.wait_for(f"{css} to show /{pattern}/", matches, timeout)

    def element(self, css: str, what: str) -> WebElement:
        """The element at ``css`` once it is there (``what`` names it in a failure)."""
        return self.wait_for(what, lambda driver: driver.find_element(By.CSS_SELECTOR, css))

    def texts(self, css: str) -> list[str]:
        """The visible text of every element at ``css`` (now, no waiting)."""
        return [node.text for node in self.driver.find_elements(By.CSS_SELECTOR, css)]

    def check(self, ok: object, message: str) -> None:
        """Fail with ``message`` (and evidence saved) unless ``ok``."""
        if not ok:
            raise self.failure(message)

    # -- evidence ----------------------------------------------------------------------

    def screenshot(self, name: str) -> Path:
        """Save what the window shows as ``NN-name.png`` in the screenshot folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{next(self._numbers):02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def failure(self, message: str) -> AssertionError:
        """An AssertionError for ``message``, after saving a screenshot, the page source of
        the frame the test was in and of the whole page."""
        saved = []
        try:
            shot = self.screenshot("failure")
            saved.append(shot.name)
            stem = shot.with_suffix("")
            frame = Path(f"{stem}-frame.html")
            frame.write_text(self.driver.page_source, encoding="utf-8")
            self.driver.switch_to.default_content()
            page = Path(f"{stem}-page.html")
            page.write_text(self.driver.page_source, encoding="utf-8")
            saved += [frame.name, page.name]
            saved.append(f"at {self.driver.current_url}")
        except WebDriverException as error:  # evidence must not hide the failure
            saved.append(f"(evidence incomplete: {error.msg})")
        return AssertionError(f"{message}\nscreenshot and page source in {self.folder}: {saved}")
